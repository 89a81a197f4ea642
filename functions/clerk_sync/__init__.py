"""clerk-sync: keep a DynamoDB copy of Clerk's users, organizations, memberships, sessions, invitations,
roles, permissions, domains, waitlist and billing records correct (the tables: domain/tables.py)."""
