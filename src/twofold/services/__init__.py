"""Use cases that the pages, the API and the CLI all call; none of them holds rules of its own."""
