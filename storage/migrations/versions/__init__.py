"""Package marker so a wheel install ships these files (Alembic environment / sample org tree)."""
