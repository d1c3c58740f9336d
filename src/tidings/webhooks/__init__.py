"""Webhook subscriptions (delivery arrives in a later release)."""
