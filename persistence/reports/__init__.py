"""Read models for PMs and finance: burn, forecast and health of a project; profitability; utilization.

Each module gathers exact sums with one or two aggregate queries and hands them to the pure ``insights``
package for the formulas and the rounding.
"""
