"""Server-rendered pages: the inbox shell, the admin's Braze setup page, the lockout page."""
