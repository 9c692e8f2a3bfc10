"""MCP tools chosen by an admin: the servers of ``INTERPRETER_MCP_SERVERS`` and their tools in the agent's hands.

``config.py`` reads the setting; ``connection.py`` is one server's time-boxed connection (Strands' ``MCPClient``)
and its state; ``tools.py`` turns a server's tool into an agent tool whose calls are recorded steps; ``hub.py``
holds the process's connections and the hook that gives each turn the tools of the servers connected then.
"""
