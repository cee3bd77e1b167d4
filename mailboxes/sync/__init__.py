"""The sync engine: scheduling and claims, the cycle, and the ACT (appointments, contacts,
tasks) two-way sync with Exchange. Read README.md in this folder first."""
