"""The engine: triggers enroll customers, enrollments walk their workflow, sends are planned."""
