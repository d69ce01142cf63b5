"""Square Appointments: accepted bookings become bookings (thin webhooks, API look-ups)."""
