"""Which language model answers: the choice and where it is saved, building it, and plain-word errors.

``from core.models import ...`` gives every public name of :mod:`core.models.choice` (the choice, saving it,
the provider that answers), :mod:`core.models.build` (the Strands model, its label, how to configure) and
:mod:`core.models.errors` (plain words for failures, context overflows in any provider's wording).
"""

from strands.models.bedrock import DEFAULT_BEDROCK_MODEL_ID

from core.models.build import build_model, describe_choice, how_to_configure
from core.models.choice import (
    DEFAULT_ANTHROPIC_MODEL_ID,
    DEFAULT_OLLAMA_HOST,
    LABELS,
    PROVIDERS,
    SAVED_FILE,
    TOOL_CHOICES,
    ModelChoice,
    effective_choice,
    forget_choice,
    load_saved_choice,
    resolve_provider,
    save_choice,
    saved_choice_path,
)
from core.models.errors import explain_model_error, is_context_overflow, server_message

__all__ = [
    "DEFAULT_ANTHROPIC_MODEL_ID",
    "DEFAULT_BEDROCK_MODEL_ID",
    "DEFAULT_OLLAMA_HOST",
    "LABELS",
    "PROVIDERS",
    "SAVED_FILE",
    "TOOL_CHOICES",
    "ModelChoice",
    "build_model",
    "describe_choice",
    "effective_choice",
    "explain_model_error",
    "forget_choice",
    "how_to_configure",
    "is_context_overflow",
    "load_saved_choice",
    "resolve_provider",
    "save_choice",
    "saved_choice_path",
    "server_message",
]
