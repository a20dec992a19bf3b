"""Reading manifests: from YAML files to the desired state.

``load.load_manifests`` is the entry point; it finds the files, parses them with positions
(``yamlpos``, into ``document.Document``; syntax errors through ``yaml_errors``), validates
each document against ``schemas/manifest.schema.json`` and explains what is wrong
(``schema_errors``), checks what a schema cannot (``checks``: normalized addresses,
duplicates, endpoints), and builds the ``model`` objects.
"""
