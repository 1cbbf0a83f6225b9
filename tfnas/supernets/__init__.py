"""tfnas.supernets"""
