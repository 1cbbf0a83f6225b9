"""tfnas.algorithms"""
