"""Command-line tools beside attn_rl.main: visualize, report, bench, bench_dreal, analyze_dreal."""
