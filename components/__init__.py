"""Streamlit render functions over core types. Only ``components.state`` touches ``st.session_state``."""
