"""One adapter per public schema; each turns raw rows into typed records (see safealign.data.io)."""
