"""The chat: engines that run turns, the live turn the page follows, transcripts, and the engine registry."""
