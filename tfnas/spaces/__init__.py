"""tfnas.spaces"""
