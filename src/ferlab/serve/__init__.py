"""`ferlab serve`: a REST API and a web page over the Recognizer."""
