"""What every destination shares: the destination interface, plans and counts, values, retries, rate limits."""
