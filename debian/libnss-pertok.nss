passwd last pertok
group last pertok
shadow last pertok
