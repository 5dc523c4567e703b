"""An offline task manager built on Atoma: the example a developer copies from."""
