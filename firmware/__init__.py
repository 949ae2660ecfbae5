"""The kiosk: run loop, config, CLI, content choice, billboard page and reports."""
