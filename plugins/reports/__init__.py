"""Built-in charity reporters: impact workbook (XLSX), printable report (HTML), IATI activity
file (XML) and a signed JSON webhook. Each module is a plugin registered by entry point."""
