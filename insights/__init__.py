"""Pure project-finance calculations: burn, forecast, health, profitability, utilization, CSV time imports.

No database, HTTP, Temporal or clock: callers pass every input (including "today"), so the same inputs
always give the same figures and every formula can be tested by hand.
"""
