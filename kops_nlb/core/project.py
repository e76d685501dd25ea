"""The project's own name, the mark on everything it makes (pure)."""

PROJECT = "kops-nlb-flows"
