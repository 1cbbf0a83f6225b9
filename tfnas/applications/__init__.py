"""tfnas.applications"""
