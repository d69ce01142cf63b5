"""Acuity Scheduling: appointments become bookings (thin form webhooks, API look-ups)."""
