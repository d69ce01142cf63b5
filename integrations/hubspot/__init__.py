"""HubSpot: deals reaching a booked stage become bookings (thin webhooks, API look-ups)."""
