"""Business rules: every change of state happens in one of these functions.

Views, consumers, management commands and workers parse input and call a service;
the service writes the rows, records the conversation event and tells the agents
after the transaction commits.
"""
