"""Typed documents, identities, the Project config and the error types every layer shares.

Records are data, and the convention for them is one, defined here: an immutable record is a
`typing.NamedTuple` (a plan of 10,000 resources builds 10,000 PlannedChanges, and defining a
frozen dataclass costs ~10x more at start-up, where every command pays for every record type
it imports); a record that needs a mutable default or identity semantics is a dataclass. Fields
never take the names of tuple methods (`index`, `count`): they would hide them. Modules that
define records evaluate their annotations (no `from __future__ import annotations`: typing
would compile a ForwardRef for every string-annotated field) and quote forward references.
"""
