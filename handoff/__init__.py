"""handoff: an AI bot first and a human agent when needed, behind Braze's WhatsApp channel."""
