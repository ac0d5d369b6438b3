from thresher.planner.optimizer.runner import RULES, OptimizerResult, RuleFiring, optimize, rule_names

__all__ = ["RULES", "OptimizerResult", "RuleFiring", "optimize", "rule_names"]
