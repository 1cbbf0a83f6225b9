"""tfnas.budgets"""
