"""The HTTP interface: the model server's ASGI app (predict, Open Inference V2, health, metrics)."""

from modelyard.api.app import create_app

__all__ = ["create_app"]
