"""Lakes written by versions before Delta: their commit records, and their conversion."""
