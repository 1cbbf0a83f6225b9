"""tfnas.ops"""
