"""Handing finished messages to a mail server, a Maildir or a list in memory."""

from mailengine.outbound.transport.base import DeliveryResult, DeliveryStatus, Envelope, Transport

__all__ = ["DeliveryResult", "DeliveryStatus", "Envelope", "Transport"]
