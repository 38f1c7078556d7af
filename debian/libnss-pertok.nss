passwd last pertok
group last pertok
