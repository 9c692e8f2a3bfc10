"""The AWS sandbox: a Bedrock AgentCore Code Interpreter session."""
