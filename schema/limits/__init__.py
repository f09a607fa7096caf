"""What one GraphQL request may ask for: depth, aliases, tokens, the cost limit."""
