import './base.css';
import './render.css';
import './map.css';
