"""``guikv-agent serve``: an OpenAI-compatible chat-completions server whose conversations keep a compressed cache."""
