"""Parsing time exports of Harvest, Toggl Track and Clockify into one row shape, each row with its problems.

Column layouts (headers matched case-insensitively, order free, extra columns ignored):

* Harvest — detailed time report export: ``Date, Client, Project, Project Code, Task, Notes, Hours,
  Hours Rounded, Billable?, Invoiced?, Approved?, First Name, Last Name, Roles, Employee?, Billable Rate,
  Billable Amount, Cost Rate, Cost Amount, Currency, External Reference URL`` (the 8-column time-import
  layout ``Date, Client, Project, Task, Notes, Hours, First name, Last name`` is accepted too). Dates are
  ``YYYY-MM-DD`` or ``M/D/YYYY``; hours are decimal. People are matched by "First Last" name.
* Toggl Track — detailed report export: ``User, Email, Client, Project, Task, Description, Billable,
  Start date, Start time, End date, End time, Duration, Tags, Amount (<currency>)``; ISO dates, 24 h times,
  ``HH:MM:SS`` durations. People are matched by email.
* Clockify — detailed report export: ``Project, Client, Description, Task, User, Group, Email, Tags,
  Billable, Start Date, Start Time, End Date, End Time, Duration (h), Duration (decimal),
  Billable Rate (<currency>), Billable Amount (<currency>)``; dates follow the workspace's date format
  (``MM/DD/YYYY`` by default: pass ``date_order``), times may be 12 h (``01:26:00 PM``). People are matched
  by email.
"""

from insights.timeimport.common import ParsedFile, ParsedRow, parse

__all__ = ["ParsedFile", "ParsedRow", "parse"]
