"""clerk-sync: keep a DynamoDB copy of Clerk users, organizations, memberships and sessions correct."""
