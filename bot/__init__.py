"""linli (邻里): the core library of the community-service assistant.

Everything here runs without Rasa: the knowledge base, retrieval, consultations,
routing and the command line. `actions/` and `connectors/` are thin adapters.
"""

__version__ = "0.1.0"
