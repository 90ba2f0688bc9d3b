"""Invoice service: computes invoice totals and asks the fraud service to score them."""
