"""Person re-identification with reinforced attention (DREAL, Li & Chen 2020, Sec. 4.2)."""
