"""Pure decisions and validation: the webhook payload, text matching, admin patterns,
the 24-hour window, campaign properties, a survey score, who counts as an agent.

Functions of their arguments only: no queries through models' managers, no writes, no
HTTP, no services. That is what lets the services, the admin's forms and the views share
one rule, and tests check each rule without a database.
"""
