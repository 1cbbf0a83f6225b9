"""tfnas.data"""
