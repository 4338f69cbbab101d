"""Policy as code: Rego policies, the built-in library, exceptions.

engine.py compiles the policies once (regopy / rego-cpp) and evaluates documents against
them; scan.py is the lexical scan behind the checks rego-cpp does not make. Import them
directly: this package stays light so that importing it loads no Rego runtime.
"""
