"""The Streamlit page (`ui/app.py`) and its parts."""
