"""DREAL (Li & Chen, ECCV 2020): attention modules trained by recurrent critics."""
